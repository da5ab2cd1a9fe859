"""A measurement follows its entity through the entity registry (renames.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
import logging
from typing import Any, cast
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import (
    ConfigEntryDisabler,
    ConfigEntryState,
    ConfigSubentryData,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from custom_components.flexmeasures.api import (
    FlexMeasuresClient,
    FlexMeasuresInvalidRequestError,
)
from custom_components.flexmeasures.const import DOMAIN, SUBENTRY_TYPE_MEASUREMENT
from custom_components.flexmeasures.forwarder import (
    MeasurementForwarder,
    MeasurementMapping,
)
from custom_components.flexmeasures.issues import (
    ENTITY_REMOVED,
    MEASUREMENTS_REJECTED,
    async_clear_orphaned_issues,
)

from .common import measurement_subentry, mock_account_entry, setup_held_at
from .fake_flexmeasures import FakeFlexMeasures
from .forwarder_common import (
    ENTITY,
    T0,
    FakeClient,
    Q,
    at,
    make_entry,
    make_sensor,
    start_forwarder,
)
from .rename_setup import house_power_entry, register, rename

SUBENTRY_ID = "01JMEASUREMENTRENAMED00000"
OTHER_ID = "01JMEASUREMENTRENAMEDOTHER"
OLD = "sensor.house_power"
NEW = "sensor.grid_power"
KW = {"unit_of_measurement": "kW"}


@pytest.fixture
async def entry(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> AsyncGenerator[MockConfigEntry]:
    """The toy account sending the registered sensor.house_power to sensor 8."""
    freezer.move_to(T0)
    async with house_power_entry(hass, fake_fm.url, SUBENTRY_ID) as config_entry:
        yield config_entry


async def test_a_rename_is_saved_in_the_measurement_and_followed_after_a_restart(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    runtime = entry.runtime_data
    await at(hass, freezer, T0 + Q)
    assert fake_fm.data[8] == {T0: 1.0}
    rename(hass, OLD, NEW, "2")
    await hass.async_block_till_done(wait_background_tasks=True)

    subentry = entry.subentries[SUBENTRY_ID]
    assert subentry.data["entity_id"] == NEW
    assert subentry.unique_id == f"{NEW}_8"
    assert subentry.title == "House"  # the user's name stays
    # following the rename reloads nothing: the open step goes on
    assert entry.runtime_data is runtime
    await at(hass, freezer, T0 + 2 * Q)
    assert fake_fm.data[8][T0 + Q] == 2.0
    # saved for the next start of Home Assistant
    await at(hass, freezer, T0 + 2 * Q + timedelta(seconds=30))
    stored = hass_storage["core.config_entries"]["data"]["entries"]
    (saved,) = [item for item in stored if item["entry_id"] == entry.entry_id]
    (saved_subentry,) = saved["subentries"]
    assert saved_subentry["data"]["entity_id"] == NEW
    assert saved_subentry["unique_id"] == f"{NEW}_8"

    # a restart: the entry starts again from what was saved
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    hass.states.async_set(OLD, "9", KW)  # another entity takes the old id
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    diagnostics = forwarder.as_diagnostics()["mappings"][SUBENTRY_ID]
    assert diagnostics["entity_id"] == NEW
    hass.states.async_set(NEW, "3", KW)
    await at(hass, freezer, T0 + 4 * Q)
    assert fake_fm.data[8][T0 + 3 * Q] == 3.0


async def test_any_other_change_of_the_entry_still_reloads_it(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    runtime = entry.runtime_data
    rename(hass, OLD, NEW, "2")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data is runtime
    hass.config_entries.async_update_subentry(
        entry, entry.subentries[SUBENTRY_ID], title="Grid"
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime


async def test_a_rename_while_another_change_waits_reloads_the_entry(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Both changes in one go: the entry is reloaded, with both."""
    runtime = entry.runtime_data
    # the title changes without a listener seeing it yet (as if its task were queued)
    object.__setattr__(entry.subentries[SUBENTRY_ID], "title", "Grid")
    rename(hass, OLD, NEW, "2")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data is not runtime
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    assert forwarder.as_diagnostics()["mappings"][SUBENTRY_ID]["entity_id"] == NEW


@pytest.mark.parametrize("held", ["first_plans", "platforms"])
async def test_a_rename_while_the_entry_reloads_is_followed(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    held: str,
) -> None:
    """Renamed while a reload sets up (no forwarder yet, or one just started)."""
    async with setup_held_at(hass, held) as setup:
        hass.config_entries.async_update_subentry(
            entry, entry.subentries[SUBENTRY_ID], title="Grid"
        )
        await setup.reached()
        rename(hass, OLD, NEW, "2")
    assert entry.state is ConfigEntryState.LOADED
    assert entry.subentries[SUBENTRY_ID].data["entity_id"] == NEW
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    assert forwarder.as_diagnostics()["mappings"][SUBENTRY_ID]["entity_id"] == NEW
    hass.states.async_set(NEW, "3", KW)
    await at(hass, freezer, T0 + 2 * Q)
    assert fake_fm.data[8][T0 + Q] == 3.0


async def test_a_removed_entity_raises_an_issue_until_it_is_back(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    issues = ir.async_get(hass)
    issue_id = ENTITY_REMOVED.issue_id(SUBENTRY_ID)
    with caplog.at_level(logging.WARNING):
        er.async_get(hass).async_remove(OLD)
        hass.states.async_remove(OLD)
        await hass.async_block_till_done()
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "measurement_entity_removed"
    assert issue.translation_placeholders == {"entity_id": OLD, "sensor_id": "8"}
    assert issue.is_persistent
    assert f"{OLD} was removed from Home Assistant" in caplog.text

    # still there after a restart: nothing would say it again
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issues.async_get_issue(DOMAIN, issue_id) is not None

    register(hass, "house_power")  # the integration of the entity adds it again
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_an_entity_removed_while_the_entry_reloads_raises_the_issue(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """No forwarder listens while a reload sets up: the issue is raised all the same."""
    async with setup_held_at(hass, "first_plans") as setup:
        hass.config_entries.async_schedule_reload(entry.entry_id)
        await setup.reached()
        er.async_get(hass).async_remove(OLD)
        hass.states.async_remove(OLD)
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, ENTITY_REMOVED.issue_id(SUBENTRY_ID)
    )
    assert issue is not None
    assert issue.translation_placeholders == {"entity_id": OLD, "sensor_id": "8"}


async def test_an_entity_renamed_to_the_removed_id_withdraws_the_issue(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    issues = ir.async_get(hass)
    issue_id = ENTITY_REMOVED.issue_id(SUBENTRY_ID)
    er.async_get(hass).async_remove(OLD)
    hass.states.async_remove(OLD)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    register(hass, "new_meter")
    rename(hass, "sensor.new_meter", OLD, "4")
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert entry.subentries[SUBENTRY_ID].data["entity_id"] == OLD


async def test_an_issue_of_an_entity_back_at_the_start_is_withdrawn(
    hass: HomeAssistant,
    entry: MockConfigEntry,
) -> None:
    issues = ir.async_get(hass)
    issue_id = ENTITY_REMOVED.issue_id(SUBENTRY_ID)
    disabled = ConfigEntryDisabler.USER
    assert await hass.config_entries.async_set_disabled_by(entry.entry_id, disabled)
    er.async_get(hass).async_remove(OLD)
    hass.states.async_remove(OLD)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None  # not of a disabled one
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        is_persistent=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="measurement_entity_removed",
        translation_placeholders={"entity_id": OLD, "sensor_id": "8"},
    )
    register(hass, "house_power")  # back while the entry was disabled
    assert await hass.config_entries.async_set_disabled_by(entry.entry_id, None)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_the_issue_of_a_deleted_measurement_is_withdrawn(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    er.async_get(hass).async_remove(OLD)
    await hass.async_block_till_done()
    issue_id = ENTITY_REMOVED.issue_id(SUBENTRY_ID)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    assert hass.config_entries.async_remove_subentry(entry, SUBENTRY_ID)
    await hass.async_block_till_done(wait_background_tasks=True)
    async_clear_orphaned_issues(hass)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_a_measurement_that_is_not_forwarded_is_renamed_too(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Its sensor did not answer this time; the next start uses the new id."""
    freezer.move_to(T0)
    register(hass, "house_power")
    register(hass, "other_power")
    hass.states.async_set(OLD, "1", KW)
    hass.states.async_set("sensor.other_power", "1", KW)
    entry = mock_account_entry(
        fake_fm.url,
        subentries_data=[
            measurement_subentry(OLD, "8", subentry_id=SUBENTRY_ID),
            measurement_subentry("sensor.other_power", "10", subentry_id=OTHER_ID),
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    runtime = entry.runtime_data
    assert runtime.forwarder is not None
    assert runtime.forwarder.subentry_ids == [SUBENTRY_ID]  # 10 is not ours
    rename(hass, "sensor.other_power", "sensor.neighbour_power", "2")
    await hass.async_block_till_done(wait_background_tasks=True)
    other = entry.subentries[OTHER_ID]
    assert other.data["entity_id"] == "sensor.neighbour_power"
    assert other.unique_id == "sensor.neighbour_power_10"
    assert entry.runtime_data is runtime
    await hass.config_entries.async_unload(entry.entry_id)


async def test_two_measurements_of_one_entity_both_follow_it(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = make_entry(hass)
    client = FakeClient()
    register(hass, "house_power")
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1", KW)
    forwarder = await start_forwarder(
        hass,
        entry,
        client,
        [
            MeasurementMapping("sub1", ENTITY, make_sensor(8)),
            MeasurementMapping("sub2", ENTITY, make_sensor(9)),
        ],
    )
    await at(hass, freezer, T0 + Q)
    rename(hass, ENTITY, NEW, "2")
    await at(hass, freezer, T0 + 2 * Q)
    await forwarder.async_stop()
    assert client.sent(8) == [(T0, 1.0), (T0 + Q, 2.0)]
    assert client.sent(9) == [(T0, 1.0), (T0 + Q, 2.0)]
    mappings = forwarder.as_diagnostics()["mappings"]
    assert {mappings[key]["entity_id"] for key in ("sub1", "sub2")} == {NEW}


async def test_the_rejection_issue_names_the_renamed_entity(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = make_entry(hass)
    client = FakeClient()
    register(hass, "house_power")
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1", KW)
    forwarder = await start_forwarder(hass, entry, client)
    client.errors.append(FlexMeasuresInvalidRequestError("no", status=422))
    await at(hass, freezer, T0 + Q)
    issue_id = MEASUREMENTS_REJECTED.issue_id("sub1")
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["entity_id"] == ENTITY
    rename(hass, ENTITY, NEW, "2")
    await hass.async_block_till_done()
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["entity_id"] == NEW
    await forwarder.async_stop()


async def test_a_rename_during_the_catch_up_is_followed(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Renamed while the recorder is still read: the live states follow the new id."""
    entry = make_entry(hass)
    client = FakeClient()
    register(hass, "house_power")
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1", KW)
    reading = asyncio.Event()

    async def history(*_args: Any) -> tuple[dict[str, Any], list[Any]]:
        await reading.wait()
        return {}, []

    forwarder = MeasurementForwarder(
        hass,
        entry,
        cast("FlexMeasuresClient", client),
        [MeasurementMapping("sub1", ENTITY, make_sensor())],
    )
    with patch(
        "custom_components.flexmeasures.forwarder.async_history", side_effect=history
    ):
        await forwarder.async_start()  # the catch-up waits for the recorder
        rename(hass, ENTITY, NEW, "2")
        await hass.async_block_till_done()
        reading.set()
        await hass.async_block_till_done(wait_background_tasks=True)
    hass.states.async_set(NEW, "3", KW)
    await at(hass, freezer, T0 + Q)
    await forwarder.async_stop()
    assert client.sent() == [(T0, 3.0)]
    assert forwarder.as_diagnostics()["mappings"]["sub1"]["entity_id"] == NEW


async def test_other_changes_in_the_registry_change_nothing(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    runtime = entry.runtime_data
    er.async_get(hass).async_update_entity(OLD, name="Grid power")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data is runtime
    assert entry.subentries[SUBENTRY_ID].data["entity_id"] == OLD
    assert (
        ir.async_get(hass).async_get_issue(DOMAIN, ENTITY_REMOVED.issue_id(SUBENTRY_ID))
        is None
    )


async def test_a_unique_id_taken_by_another_measurement_is_kept(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Never two sub-entries with one unique id (a store edited by hand)."""
    freezer.move_to(T0)
    register(hass, "house_power")
    hass.states.async_set(OLD, "1", KW)
    entry = mock_account_entry(
        fake_fm.url,
        subentries_data=[
            measurement_subentry(OLD, "8", subentry_id=SUBENTRY_ID),
            ConfigSubentryData(
                data={"entity_id": "sensor.elsewhere", "sensor": "10"},
                subentry_id=OTHER_ID,
                subentry_type=SUBENTRY_TYPE_MEASUREMENT,
                title="taken",
                unique_id=f"{NEW}_8",
            ),
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    rename(hass, OLD, NEW, "2")
    await hass.async_block_till_done(wait_background_tasks=True)
    subentry = entry.subentries[SUBENTRY_ID]
    assert subentry.data["entity_id"] == NEW
    assert subentry.unique_id == f"{OLD}_8"
    await hass.config_entries.async_unload(entry.entry_id)
