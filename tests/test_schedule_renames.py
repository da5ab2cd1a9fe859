"""A schedule follows its state of charge entity through the entity registry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from .common import (
    measurement_subentry,
    schedule_subentry,
    setup_held_at,
    setup_integration,
)
from .fake_flexmeasures import FakeFlexMeasures
from .rename_setup import counting_reloads, register, rename
from .schedule_setup import (
    NOW,
    SCHEDULE_DATA,
    SOC_ENTITY,
    SUBENTRY_ID,
    coordinator_of,
    make_entry,
    set_soc,
)

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

NEW = "sensor.garage_battery_soc"
PERCENT = {"unit_of_measurement": "%"}
MEASUREMENT_ID = "01JMEASUREMENTOFTHESOC0000"
OTHER_ID = "01JSCHEDULEOTHERBATTERY000"


def soc_at_start(fake_fm: FakeFlexMeasures) -> object:
    """The state of charge the last job was asked to start from."""
    model = list(fake_fm.jobs.values())[-1].payload["flex-model"]
    assert isinstance(model, list)
    return model[0]["soc-at-start"]


def saved_soc_entities(hass_storage: dict[str, Any], entry_id: str) -> list[Any]:
    """The `soc_entity` of each schedule sub-entry as Home Assistant saved it."""
    stored = hass_storage["core.config_entries"]["data"]["entries"]
    (saved,) = [item for item in stored if item["entry_id"] == entry_id]
    return [
        subentry["data"]["soc_entity"]
        for subentry in saved["subentries"]
        if subentry["subentry_type"] == "schedule"
    ]


async def test_a_renamed_soc_entity_is_read_by_the_next_job_and_after_a_restart(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    register(hass, "home_battery_soc", "bms")
    set_soc(hass, "50", "%")
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert soc_at_start(fake_fm) == "225 kWh"  # 50 % of 450 kWh

    rename(hass, SOC_ENTITY, NEW, "80", "%")
    await hass.async_block_till_done(wait_background_tasks=True)
    coordinator = coordinator_of(entry)
    await coordinator.async_refresh()
    assert coordinator.last_update_success, coordinator.last_exception
    assert soc_at_start(fake_fm) == "360 kWh"  # 80 % of the renamed entity
    assert entry.subentries[SUBENTRY_ID].data["soc_entity"] == NEW
    assert entry.subentries[SUBENTRY_ID].title == "Home battery"
    # the sub-entry is saved with the new id for the next start
    freezer.tick(timedelta(seconds=30))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert saved_soc_entities(hass_storage, entry.entry_id) == [NEW]

    # a restart: another entity takes the old id; the new one is read
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    set_soc(hass, "10", "%")
    hass.states.async_set(NEW, "20", PERCENT)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert coordinator_of(entry).settings.soc_entity == NEW
    assert coordinator_of(entry).last_update_success
    assert soc_at_start(fake_fm) == "90 kWh"  # 20 % of NEW, not 10 % of the old


async def test_an_entity_both_measured_and_the_soc_is_followed_by_both(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The measurement and the schedule both name the new id; one reload."""
    fake_fm.add_sensor(20, "state of charge", 6, "kWh", "PT15M")
    register(hass, "home_battery_soc", "bms")
    set_soc(hass, "200", "kWh")
    measurement = measurement_subentry(SOC_ENTITY, "20", subentry_id=MEASUREMENT_ID)
    entry = make_entry(fake_fm, more=[measurement], soc_entity=SOC_ENTITY)
    await setup_integration(hass, entry)
    assert soc_at_start(fake_fm) == "200 kWh"
    runtime = entry.runtime_data
    with counting_reloads(hass) as reloads:
        rename(hass, SOC_ENTITY, NEW, "300", "kWh")
        await hass.async_block_till_done(wait_background_tasks=True)
    assert reloads == [entry.entry_id]
    assert entry.subentries[SUBENTRY_ID].data["soc_entity"] == NEW
    assert entry.subentries[MEASUREMENT_ID].data["entity_id"] == NEW
    assert entry.subentries[MEASUREMENT_ID].unique_id == f"{NEW}_20"
    assert entry.runtime_data is not runtime  # the schedule changed: reloaded
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    mapping = forwarder.as_diagnostics()["mappings"][MEASUREMENT_ID]
    assert mapping["entity_id"] == NEW
    coordinator = coordinator_of(entry)
    await coordinator.async_refresh()
    assert coordinator.last_update_success, coordinator.last_exception
    assert soc_at_start(fake_fm) == "300 kWh"


async def test_two_schedules_of_one_soc_entity_both_follow_it(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.add_sensor(21, "charging", 6, "kW", "PT15M")
    register(hass, "home_battery_soc", "bms")
    set_soc(hass, "50", "%")
    other = schedule_subentry(
        {**SCHEDULE_DATA, "power_sensor": "21"},
        subentry_id=OTHER_ID,
        title="Other battery",
    )
    entry = make_entry(fake_fm, more=[other])
    await setup_integration(hass, entry)
    rename(hass, SOC_ENTITY, NEW, "80", "%")
    await hass.async_block_till_done(wait_background_tasks=True)
    for subentry_id in (SUBENTRY_ID, OTHER_ID):
        assert entry.subentries[subentry_id].data["soc_entity"] == NEW
        coordinator = entry.runtime_data.coordinators[subentry_id]
        assert coordinator.settings.soc_entity == NEW
        assert coordinator.last_update_success, coordinator.last_exception


async def test_renames_of_other_entities_change_nothing(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Another entity renamed, or the SoC entity changed but for its id: no reload."""
    register(hass, "home_battery_soc", "bms")
    register(hass, "kitchen_power", "bms")
    set_soc(hass, "50", "%")
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    runtime = entry.runtime_data
    rename(hass, "sensor.kitchen_power", "sensor.oven_power", "1", "kW")
    er.async_get(hass).async_update_entity(SOC_ENTITY, name="Battery")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data is runtime
    assert entry.subentries[SUBENTRY_ID].data["soc_entity"] == SOC_ENTITY
    assert coordinator_of(entry).settings.soc_entity == SOC_ENTITY


@pytest.mark.parametrize("held", ["first_plans", "platforms"])
async def test_a_second_rename_during_the_reload_of_the_first_is_followed(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, held: str
) -> None:
    """A->B reloads; B->C while that reload sets up (a typo fixed): C is read."""
    third = "sensor.shed_battery_soc"
    register(hass, "home_battery_soc", "bms")
    set_soc(hass, "50", "%")
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    async with setup_held_at(hass, held) as setup:
        rename(hass, SOC_ENTITY, NEW, "80", "%")
        await setup.reached()  # the reload is setting up
        rename(hass, NEW, third, "70", "%")
    assert entry.state is ConfigEntryState.LOADED
    assert entry.subentries[SUBENTRY_ID].data["soc_entity"] == third
    coordinator = coordinator_of(entry)
    assert coordinator.settings.soc_entity == third
    await coordinator.async_refresh()
    assert coordinator.last_update_success, coordinator.last_exception
    assert soc_at_start(fake_fm) == "315 kWh"  # 70 % of 450 kWh


async def test_a_rename_while_the_entry_is_not_loaded_is_read_at_its_next_start(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Renamed while the account was unloaded (or disabled): the start reads it."""
    fake_fm.add_sensor(20, "state of charge", 6, "kWh", "PT15M")
    register(hass, "home_battery_soc", "bms")
    set_soc(hass, "50", "%")
    measurement = measurement_subentry(SOC_ENTITY, "20", subentry_id=MEASUREMENT_ID)
    entry = make_entry(fake_fm, more=[measurement])
    await setup_integration(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    rename(hass, SOC_ENTITY, NEW, "80", "%")
    set_soc(hass, "10", "%")  # another entity takes the old id
    await hass.async_block_till_done()
    assert entry.subentries[SUBENTRY_ID].data["soc_entity"] == NEW
    assert entry.subentries[MEASUREMENT_ID].data["entity_id"] == NEW
    assert entry.subentries[MEASUREMENT_ID].unique_id == f"{NEW}_20"
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert coordinator_of(entry).settings.soc_entity == NEW
    assert soc_at_start(fake_fm) == "360 kWh"  # 80 % of NEW, not 10 % of the old
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    assert forwarder.as_diagnostics()["mappings"][MEASUREMENT_ID]["entity_id"] == NEW
