"""Review of the one rename follower (renames.py): hostile sequences.

Each test names the defect it shows; the ones marked "sound" guard what was
checked and found right.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
import contextlib
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import SensorEntity
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockEntityPlatform,
)

from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.issues import ENTITY_REMOVED

from .common import (
    measurement_subentry,
    mock_account_entry,
    schedule_subentry,
    setup_held_at,
    setup_integration,
)
from .const import TOY_PASSWORD
from .fake_flexmeasures import FakeFlexMeasures
from .forwarder_common import T0, Q, at
from .rename_setup import counting_reloads, house_power_entry, register, rename
from .schedule_setup import (
    NOW,
    SCHEDULE_DATA,
    SOC_ENTITY,
    SUBENTRY_ID as SCHEDULE_ID,
    coordinator_of,
    make_entry as make_schedule_entry,
    set_soc,
)

SUBENTRY_ID = "01JREVIEWMEASUREMENT000000"
OTHER_ID = "01JREVIEWMEASUREMENTOTHER0"
OLD = "sensor.house_power"
NEW = "sensor.grid_power"
KW = {"unit_of_measurement": "kW"}


@contextlib.asynccontextmanager
async def unload_held(hass: HomeAssistant) -> AsyncIterator[asyncio.Event]:
    """Hold every unload of platforms until the block ends; yields `entered`."""
    gate = asyncio.Event()
    entered = asyncio.Event()
    unload = hass.config_entries.async_unload_platforms

    async def holding(entry: Any, platforms: Any) -> bool:
        entered.set()
        await gate.wait()
        return await unload(entry, platforms)

    with patch.object(hass.config_entries, "async_unload_platforms", holding):
        yield entered
        gate.set()
        await hass.async_block_till_done(wait_background_tasks=True)


@pytest.fixture
async def entry(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> AsyncGenerator[MockConfigEntry]:
    """The toy account sending the registered sensor.house_power to sensor 8."""
    freezer.move_to(T0)
    async with house_power_entry(hass, fake_fm.url, SUBENTRY_ID) as config_entry:
        yield config_entry


# ---------------------------------------------------------------- unloading


async def test_a_rename_while_the_entry_unloads_does_not_load_it_again(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Defect: the update listener is still registered while the entry unloads.

    The follower saves the new id (the entry is not LOADED, so `loaded_as` is
    not advanced); the listener sees a signature that differs and reloads:
    the entry the user unloaded is set up again.
    """
    with counting_reloads(hass) as reloads:
        async with unload_held(hass) as entered:
            unloading = hass.async_create_task(
                hass.config_entries.async_unload(entry.entry_id)
            )
            await asyncio.wait_for(entered.wait(), 5)
            assert entry.state is ConfigEntryState.UNLOAD_IN_PROGRESS
            rename(hass, OLD, NEW, "2")
        assert await unloading
    assert entry.subentries[SUBENTRY_ID].data["entity_id"] == NEW
    assert entry.state is ConfigEntryState.NOT_LOADED  # not set up again
    assert reloads == []


async def test_a_rename_while_a_reload_unloads_reloads_once(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Defect: a rename during a reload's unload reloads a second time.

    The set-up of the reload under way reads the entry after the unload (the
    new id); the update listener, still registered while the entry unloads,
    reloads it once more.
    """
    reload = hass.config_entries.async_reload
    with counting_reloads(hass) as reloads:
        async with unload_held(hass) as entered:
            reloading = hass.async_create_task(reload(entry.entry_id))
            await asyncio.wait_for(entered.wait(), 5)
            rename(hass, OLD, NEW, "2")
        assert await reloading
    assert entry.state is ConfigEntryState.LOADED
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    assert forwarder.as_diagnostics()["mappings"][SUBENTRY_ID]["entity_id"] == NEW
    assert reloads == []  # the one under way was enough


# ---------------------------------------------------------------- secrets


async def test_the_runtime_data_repr_holds_no_password(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Defect: FlexMeasuresData.loaded_as holds entry.data, password included.

    The data class's repr shows it (the client's own repr hides the password
    on purpose): any log or error report of the runtime data leaks it.
    """
    assert TOY_PASSWORD in str(entry.data)
    assert TOY_PASSWORD not in repr(entry.runtime_data)


# ---------------------------------------------------------------- schedules

SOC_NEW = "sensor.garage_battery_soc"
SOC_THIRD = "sensor.shed_battery_soc"
SCHEDULE_OTHER_ID = "01JREVIEWSCHEDULEOTHER0000"


@pytest.mark.freeze_time(NOW, tick=True)
@pytest.mark.usefixtures("fast_jobs_and_unload")
async def test_sound_a_soc_entity_renamed_twice_in_one_go_ends_at_the_last(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """A->B then B->C in one loop iteration: C is read; two reloads, by design.

    The first save's reload runs eagerly through the unload into the new
    set-up (SETUP_IN_PROGRESS, `loaded_as` with B) before the second rename:
    that set-up may have read B, so the second rename reloads once more.
    """
    register(hass, "home_battery_soc", "bms")
    set_soc(hass, "50", "%")
    schedule_entry = make_schedule_entry(fake_fm)
    await setup_integration(hass, schedule_entry)
    with counting_reloads(hass) as reloads:
        rename(hass, SOC_ENTITY, SOC_NEW, "80", "%")
        rename(hass, SOC_NEW, SOC_THIRD, "70", "%")
        await hass.async_block_till_done(wait_background_tasks=True)
    assert schedule_entry.state is ConfigEntryState.LOADED
    assert coordinator_of(schedule_entry).settings.soc_entity == SOC_THIRD
    assert reloads == [schedule_entry.entry_id] * 2


@pytest.mark.freeze_time(NOW, tick=True)
@pytest.mark.usefixtures("fast_jobs_and_unload")
async def test_two_schedules_of_one_soc_entity_reload_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Defect: one rename, two schedules naming it: two reloads.

    `_async_renamed` saves the schedules one by one; the first save's update
    listener reloads, eagerly: the entry is unloaded and setting up again
    before the second save, for which the follower ("an earlier save began a
    reload: it may miss this one") schedules a second reload. The docstring's
    "the schedules' save reloads once with all of it" holds for one schedule.
    """
    fake_fm.add_sensor(21, "charging", 6, "kW", "PT15M")
    register(hass, "home_battery_soc", "bms")
    set_soc(hass, "50", "%")
    other = schedule_subentry(
        {**SCHEDULE_DATA, "power_sensor": "21"},
        subentry_id=SCHEDULE_OTHER_ID,
        title="Other battery",
    )
    schedule_entry = make_schedule_entry(fake_fm, more=[other])
    await setup_integration(hass, schedule_entry)
    with counting_reloads(hass) as reloads:
        rename(hass, SOC_ENTITY, SOC_NEW, "80", "%")
        await hass.async_block_till_done(wait_background_tasks=True)
    for subentry_id in (SCHEDULE_ID, SCHEDULE_OTHER_ID):
        coordinator = schedule_entry.runtime_data.coordinators[subentry_id]
        assert coordinator.settings.soc_entity == SOC_NEW
    assert reloads == [schedule_entry.entry_id]


@pytest.mark.freeze_time(NOW, tick=True)
@pytest.mark.usefixtures("fast_jobs_and_unload")
async def test_a_rename_while_a_reload_waits_for_its_turn_reloads_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """A reload is coming (it waits for the set-up lock): it reads the rename.

    The entry is still loaded; following the rename must not ask for a second
    reload, and the one coming reads the new id.
    """
    register(hass, "home_battery_soc", "bms")
    set_soc(hass, "50", "%")
    schedule_entry = make_schedule_entry(fake_fm)
    await setup_integration(hass, schedule_entry)
    with counting_reloads(hass) as reloads:
        async with schedule_entry.setup_lock:  # the reload waits for its turn
            hass.config_entries.async_update_subentry(
                schedule_entry,
                schedule_entry.subentries[SCHEDULE_ID],
                title="Garage battery",
            )
            await asyncio.sleep(0)
            assert schedule_entry.state is ConfigEntryState.LOADED
            rename(hass, SOC_ENTITY, SOC_NEW, "80", "%")
        await hass.async_block_till_done(wait_background_tasks=True)
    assert reloads == [schedule_entry.entry_id]
    coordinator = schedule_entry.runtime_data.coordinators[SCHEDULE_ID]
    assert coordinator.settings.soc_entity == SOC_NEW


@pytest.mark.freeze_time(NOW, tick=True)
@pytest.mark.usefixtures("fast_jobs_and_unload")
async def test_a_schedule_changed_while_its_entry_sets_up_is_set_up_again(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Not only renames: no update listener sees a change made during set-up."""
    register(hass, "home_battery_soc", "bms")
    set_soc(hass, "50", "%")
    schedule_entry = make_schedule_entry(fake_fm)
    await setup_integration(hass, schedule_entry)
    async with setup_held_at(hass, "first_plans") as setup:
        hass.config_entries.async_schedule_reload(schedule_entry.entry_id)
        await setup.reached()  # the schedules are built, with 450 kWh
        subentry = schedule_entry.subentries[SCHEDULE_ID]
        hass.config_entries.async_update_subentry(
            schedule_entry, subentry, data={**subentry.data, "capacity": 300.0}
        )
    assert schedule_entry.state is ConfigEntryState.LOADED
    coordinator = schedule_entry.runtime_data.coordinators[SCHEDULE_ID]
    assert coordinator.settings.capacity == 300.0


# ---------------------------------------------------------------- removal


async def test_a_rename_while_the_entry_is_removed_raises_nothing(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Defect: the update listener reloads an entry that is being removed.

    Removing unloads it first; the listener is still registered then, the
    rename's save differs from `loaded_as`, and it calls `async_reload`, which
    waits for the removal and then fails on the entry that is gone
    (UnknownEntry in a task: "Error doing job" in Home Assistant's log).
    """
    async with unload_held(hass) as entered:
        removing = hass.async_create_task(
            hass.config_entries.async_remove(entry.entry_id)
        )
        await asyncio.wait_for(entered.wait(), 5)
        rename(hass, OLD, NEW, "2")
    await removing
    assert hass.config_entries.async_get_entry(entry.entry_id) is None


async def test_removing_the_entry_while_its_rename_reload_waits_raises_nothing(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Defect: the reload scheduled for a setting-up entry outlives its removal.

    The entry is set up; a removal waits for the set-up lock; a rename then
    makes `_async_renamed` call `async_schedule_reload` (SETUP_IN_PROGRESS),
    whose reload waits behind the removal and fails with UnknownEntry. (Home
    Assistant's own `async_schedule_reload` does not check; the follower
    reaches it.)
    """
    async with setup_held_at(hass, "first_plans") as setup:
        hass.config_entries.async_schedule_reload(entry.entry_id)
        await setup.reached()
        removing = hass.async_create_task(
            hass.config_entries.async_remove(entry.entry_id)
        )
        await asyncio.sleep(0)
        rename(hass, OLD, NEW, "2")
    await removing
    assert hass.config_entries.async_get_entry(entry.entry_id) is None


# ---------------------------------------------------------------- open steps


class _Power(SensorEntity):
    """A real entity (not just a registry entry): it moves itself on a rename."""

    _attr_should_poll = False
    _attr_native_unit_of_measurement = "kW"

    def __init__(self, object_id: str, value: float) -> None:
        self._attr_unique_id = f"unique-{object_id}"
        self._attr_name = object_id
        self._attr_native_value = value


async def test_a_real_entity_renamed_goes_on_being_measured(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A real entity (not just a registry entry) renamed: its steady value goes on.

    The entity moves its own state to the new id through the registry too;
    the forwarder must not take that as a gap, nor lose the steady value.
    """
    freezer.move_to(T0)
    platform = MockEntityPlatform(hass, domain="sensor", platform_name="p1")
    await platform.async_add_entities([_Power("house_power", 1.0)])
    assert hass.states.get(OLD) is not None
    config_entry = mock_account_entry(
        fake_fm.url,
        subentries_data=[measurement_subentry(OLD, "8", subentry_id=SUBENTRY_ID)],
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await at(hass, freezer, T0 + Q)
    assert fake_fm.data[8] == {T0: 1.0}

    er.async_get(hass).async_update_entity(OLD, new_entity_id=NEW)
    await hass.async_block_till_done(wait_background_tasks=True)
    state = hass.states.get(NEW)
    assert state is not None
    assert state.state == "1.0"
    assert config_entry.subentries[SUBENTRY_ID].data["entity_id"] == NEW
    await at(hass, freezer, T0 + 3 * Q)
    # the value held all along: both steps after the rename are measured
    assert fake_fm.data[8].get(T0 + Q) == 1.0
    assert fake_fm.data[8].get(T0 + 2 * Q) == 1.0
    await hass.config_entries.async_unload(config_entry.entry_id)
    await platform.async_reset()


# ---------------------------------------------------------------- sound


async def _two_measurements(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    second: str = NEW,
    register_second: bool = True,
) -> MockConfigEntry:
    """OLD -> sensor 8 (value 1), `second` -> sensor 9 (value 5)."""
    freezer.move_to(T0)
    register(hass, "house_power")
    if register_second:
        register(hass, second.split(".")[1])
    hass.states.async_set(OLD, "1", KW)
    hass.states.async_set(second, "5", KW)
    config_entry = mock_account_entry(
        fake_fm.url,
        subentries_data=[
            measurement_subentry(OLD, "8", subentry_id=SUBENTRY_ID),
            measurement_subentry(second, "9", subentry_id=OTHER_ID),
        ],
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return config_entry


async def test_sound_swapping_two_entities_ids_keeps_each_measurement(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A->tmp, B->A, tmp->B in one go: each value goes on to its own sensor."""
    config_entry = await _two_measurements(hass, fake_fm, freezer)
    runtime = config_entry.runtime_data
    with counting_reloads(hass) as reloads:
        rename(hass, OLD, "sensor.tmp", "1")
        rename(hass, NEW, OLD, "5")
        rename(hass, "sensor.tmp", NEW, "1")
        await hass.async_block_till_done(wait_background_tasks=True)
    assert reloads == []
    assert config_entry.runtime_data is runtime
    assert config_entry.subentries[SUBENTRY_ID].data["entity_id"] == NEW
    assert config_entry.subentries[SUBENTRY_ID].unique_id == f"{NEW}_8"
    assert config_entry.subentries[OTHER_ID].data["entity_id"] == OLD
    assert config_entry.subentries[OTHER_ID].unique_id == f"{OLD}_9"
    await at(hass, freezer, T0 + Q)
    assert fake_fm.data[8] == {T0: 1.0}
    assert fake_fm.data[9] == {T0: 5.0}
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_sound_a_rename_back_and_forth_in_one_go_reloads_nothing(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
) -> None:
    runtime = entry.runtime_data
    await at(hass, freezer, T0 + Q)
    with counting_reloads(hass) as reloads:
        for step in range(20):
            rename(hass, OLD, NEW, "2")
            rename(hass, NEW, OLD, "2")
            assert step >= 0
        await hass.async_block_till_done(wait_background_tasks=True)
    assert reloads == []
    assert entry.runtime_data is runtime
    assert entry.subentries[SUBENTRY_ID].unique_id == f"{OLD}_8"
    await at(hass, freezer, T0 + 2 * Q)
    assert fake_fm.data[8] == {T0: 1.0, T0 + Q: 2.0}  # each step once


async def test_sound_a_rename_onto_the_id_another_measurement_names(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """B was removed (issue raised); A is renamed to B: both measure B now."""
    config_entry = await _two_measurements(hass, fake_fm, freezer)
    er.async_get(hass).async_remove(NEW)
    hass.states.async_remove(NEW)
    await hass.async_block_till_done()
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, ENTITY_REMOVED.issue_id(OTHER_ID))
    freezer.move_to(T0 + Q / 2)
    rename(hass, OLD, NEW, "3")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issues.async_get_issue(DOMAIN, ENTITY_REMOVED.issue_id(OTHER_ID)) is None
    assert config_entry.subentries[SUBENTRY_ID].unique_id == f"{NEW}_8"
    await at(hass, freezer, T0 + Q)
    assert fake_fm.data[8] == {T0: 2.0}  # 1 then 3, half each
    assert fake_fm.data[9] == {T0: 3.0}  # a gap, then 3
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_sound_two_entries_measuring_one_entity_both_follow_it(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A second (loaded) and a third (disabled) account name the entity too."""
    second = mock_account_entry(
        fake_fm.url,
        unique_id="second",
        subentries_data=[measurement_subentry(OLD, "9", subentry_id=OTHER_ID)],
    )
    disabled = mock_account_entry(
        fake_fm.url,
        unique_id="disabled",
        subentries_data=[
            measurement_subentry(OLD, "10", subentry_id="01JREVIEWDISABLED000000000")
        ],
    )
    disabled.disabled_by = ConfigEntryDisabler.USER
    disabled.add_to_hass(hass)
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    with counting_reloads(hass) as reloads:
        rename(hass, OLD, NEW, "2")
        await hass.async_block_till_done(wait_background_tasks=True)
    assert reloads == []
    for each in (entry, second, disabled):
        (subentry,) = each.subentries.values()
        assert subentry.data["entity_id"] == NEW
    await at(hass, freezer, T0 + Q)
    assert fake_fm.data[8] == {T0: 2.0}
    assert fake_fm.data[9] == {T0: 2.0}
    er.async_get(hass).async_remove(NEW)
    await hass.async_block_till_done()
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, ENTITY_REMOVED.issue_id(SUBENTRY_ID))
    assert issues.async_get_issue(DOMAIN, ENTITY_REMOVED.issue_id(OTHER_ID))
    assert not issues.async_get_issue(
        DOMAIN, ENTITY_REMOVED.issue_id("01JREVIEWDISABLED000000000")
    )


async def test_sound_a_rename_in_setup_retry_is_read_when_the_server_answers(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    register(hass, "house_power")
    hass.states.async_set(OLD, "1", KW)
    fake_fm.down = True
    config_entry = mock_account_entry(
        fake_fm.url,
        subentries_data=[measurement_subentry(OLD, "8", subentry_id=SUBENTRY_ID)],
    )
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    with counting_reloads(hass) as reloads:
        rename(hass, OLD, NEW, "2")
        await hass.async_block_till_done()
    assert reloads == []
    assert config_entry.subentries[SUBENTRY_ID].data["entity_id"] == NEW
    fake_fm.down = False
    await at(hass, freezer, T0 + timedelta(minutes=2))
    assert config_entry.state is ConfigEntryState.LOADED
    forwarder = config_entry.runtime_data.forwarder
    assert forwarder is not None
    assert forwarder.as_diagnostics()["mappings"][SUBENTRY_ID]["entity_id"] == NEW
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_sound_a_rename_while_offline_goes_on_when_the_server_is_back(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Started offline (kept sensor facts); renamed; the server answers again."""
    await at(hass, freezer, T0 + Q)
    fake_fm.down = True
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    runtime = entry.runtime_data
    with counting_reloads(hass) as reloads:
        rename(hass, OLD, NEW, "2")
        await hass.async_block_till_done(wait_background_tasks=True)
        assert reloads == []
        assert entry.runtime_data is runtime
        await at(hass, freezer, T0 + 2 * Q)
        fake_fm.down = False
        for minute in range(1, 4):
            await at(hass, freezer, T0 + 2 * Q + timedelta(minutes=minute))
    assert reloads == [entry.entry_id]  # the one of the server back
    await at(hass, freezer, T0 + 3 * Q)
    assert fake_fm.data[8][T0 + Q] == 2.0
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    assert forwarder.as_diagnostics()["mappings"][SUBENTRY_ID]["entity_id"] == NEW


# ---------------------------------------------------------------- other entries


async def test_a_rename_reloads_no_entry_that_does_not_name_the_entity(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    """Defect: an entry setting up is reloaded for a rename it has nothing of.

    `updated` calls `_async_renamed` for every entry of the domain once any
    entry names the entity, and `_async_renamed` schedules a reload for an
    entry SETUP_IN_PROGRESS whether it names the old id or not.
    """
    unrelated = mock_account_entry(fake_fm.url, unique_id="unrelated")
    unrelated.add_to_hass(hass)
    with counting_reloads(hass) as reloads:
        async with setup_held_at(hass, "first_plans") as setup:
            setting_up = hass.async_create_task(
                hass.config_entries.async_setup(unrelated.entry_id)
            )
            await setup.reached()
            assert unrelated.state is ConfigEntryState.SETUP_IN_PROGRESS
            rename(hass, OLD, NEW, "2")
        assert await setting_up
    assert entry.subentries[SUBENTRY_ID].data["entity_id"] == NEW
    assert unrelated.state is ConfigEntryState.LOADED
    assert reloads == []


async def test_sound_no_registry_listener_is_left_after_unloads_and_removal(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    def listening() -> list[str]:
        """The integration's own listeners of the entity registry."""
        return sorted(
            job.target.__qualname__
            for job, _filter in hass.bus._listeners.get(
                er.EVENT_ENTITY_REGISTRY_UPDATED, []
            )
            if getattr(job.target, "__module__", "").startswith(
                "custom_components.flexmeasures"
            )
        )

    loaded = listening()
    assert loaded == [
        "async_follow_entities.<locals>.updated",
        "async_track_renames.<locals>.updated",
    ]
    for _ in range(3):
        await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert listening() == loaded
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert listening() == ["async_follow_entities.<locals>.updated"]
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert listening() == ["async_follow_entities.<locals>.updated"]
