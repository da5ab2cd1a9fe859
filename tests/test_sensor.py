"""Schedule device sensors: setpoint, next change, last update."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest

from custom_components.flexmeasures.const import DOMAIN

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    STEP_START,
    SUBENTRY_ID,
    coordinator_of,
    entity_id,
    fake_value,
    fire_at,
    make_entry,
    set_soc,
)

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]


async def test_setpoint_follows_the_step_covering_now(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))
    setpoint = entity_id(hass, "sensor", "power_setpoint")

    state = hass.states.get(setpoint)
    assert state is not None
    assert float(state.state) == fake_value(0)
    assert state.attributes["unit_of_measurement"] == "kW"
    assert state.attributes["device_class"] == "power"
    assert state.attributes["state_class"] == "measurement"
    assert state.attributes["sign_convention"] == "consumption_positive"
    schedule = state.attributes["schedule"]
    assert schedule[0] == {
        "start": STEP_START.isoformat(),
        "end": (STEP_START + timedelta(minutes=15)).isoformat(),
        "value": fake_value(0),
    }
    assert schedule[-1]["end"] == (STEP_START + timedelta(hours=24)).isoformat()

    requests = len(fake_fm.requests)
    for step in (1, 2, 3):
        await fire_at(hass, freezer, STEP_START + timedelta(minutes=15 * step))
        state = hass.states.get(setpoint)
        assert state is not None
        assert float(state.state) == fake_value(step)
    # The setpoint changed with no API call.
    assert len(fake_fm.requests) == requests


async def test_schedule_attribute_is_not_recorded(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))
    state = hass.states.get(entity_id(hass, "sensor", "power_setpoint"))
    assert state is not None
    entity = hass.data["entity_components"]["sensor"].get_entity(state.entity_id)
    assert "schedule" in entity._unrecorded_attributes
    assert "sign_convention" not in entity._unrecorded_attributes


async def test_next_change_and_last_update(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    next_change = hass.states.get(entity_id(hass, "sensor", "next_change"))
    assert next_change is not None
    assert next_change.attributes["device_class"] == "timestamp"
    # The fake's values change every step.
    assert dt_util.parse_datetime(next_change.state) == STEP_START + timedelta(
        minutes=15
    )
    last_update = hass.states.get(entity_id(hass, "sensor", "last_update"))
    assert last_update is not None
    assert dt_util.parse_datetime(last_update.state) == coordinator_of(
        entry
    ).last_success.replace(microsecond=0)  # type: ignore[union-attr]
    registry_entry = er.async_get(hass).async_get(last_update.entity_id)
    assert registry_entry is not None
    assert registry_entry.entity_category == "diagnostic"


async def test_failed_update_keeps_setpoint_until_schedule_ends(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm, duration=1))
    setpoint = entity_id(hass, "sensor", "power_setpoint")
    last_update = entity_id(hass, "sensor", "last_update")

    fake_fm.down = True
    # The periodic update (15 min after setup) fails: the setpoint follows the
    # kept schedule.
    await fire_at(hass, freezer, NOW + timedelta(minutes=15, seconds=30))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert coordinator_of(hass.config_entries.async_entries(DOMAIN)[0]).stale
    state = hass.states.get(setpoint)
    assert state is not None
    assert float(state.state) == fake_value(1)

    # The kept (1 h) schedule ends: unavailable. Diagnostics stay available.
    await fire_at(hass, freezer, STEP_START + timedelta(hours=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    state = hass.states.get(setpoint)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE
    state = hass.states.get(last_update)
    assert state is not None
    assert state.state != STATE_UNAVAILABLE


async def test_device_per_schedule_subentry_via_the_account_device(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    devices = dr.async_get(hass)
    device = devices.async_get_device_by_identifier(
        (DOMAIN, SUBENTRY_ID), entry.entry_id
    )
    assert device is not None
    assert device.name == "Home battery"
    assert device.config_subentry_id == SUBENTRY_ID
    account = devices.async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert account is not None
    assert device.via_device_id == account.id
    entities = er.async_entries_for_device(er.async_get(hass), device.id)
    assert sorted(e.unique_id.removeprefix(f"{SUBENTRY_ID}_") for e in entities) == [
        "charging",
        "consumption_price",
        "discharging",
        "last_update",
        "mode",
        "next_change",
        "planned_cost",
        "power_setpoint",
        "ready_by",
        "reschedule",
        "schedule",
        "stale",
        "target_soc",
    ]
    assert all(e.config_subentry_id == SUBENTRY_ID for e in entities)
