"""What a user sees of a measurement: its device and diagnostic entities."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.const import (
    CONF_EMAIL,
    CONF_PASSWORD,
    CONF_URL,
    CONF_VERIFY_SSL,
    STATE_OFF,
    STATE_ON,
    STATE_UNKNOWN,
    EntityCategory,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from custom_components.flexmeasures.const import DOMAIN, SUBENTRY_TYPE_MEASUREMENT

from .fake_flexmeasures import TOY_EMAIL, TOY_PASSWORD, FakeFlexMeasures
from .forwarder_common import T0, Q, at

SUBENTRY_ID = "01JMEASUREMENTGRIDPOWER000"
GRID = "sensor.grid_power"
TITLE = "Grid power -> discharging"


@pytest.fixture
async def entry(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> AsyncGenerator[MockConfigEntry]:
    """The toy account with one measurement, loaded at T0."""
    freezer.move_to(T0)
    hass.states.async_set(GRID, "3.5", {"unit_of_measurement": "kW"})
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        title="Toy Account",
        unique_id=f"{fake_fm.url}_1",
        data={
            CONF_URL: fake_fm.url,
            CONF_EMAIL: TOY_EMAIL,
            CONF_PASSWORD: TOY_PASSWORD,
            CONF_VERIFY_SSL: True,
        },
        subentries_data=[
            ConfigSubentryData(
                data={"entity_id": GRID, "sensor": "8"},
                subentry_id=SUBENTRY_ID,
                subentry_type=SUBENTRY_TYPE_MEASUREMENT,
                title=TITLE,
                unique_id=f"{GRID}_8",
            )
        ],
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    yield config_entry
    if config_entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()


def _entity_ids(hass: HomeAssistant) -> dict[str, str]:
    registry = er.async_get(hass)
    return {
        key: registry.async_get_entity_id(platform, DOMAIN, f"{SUBENTRY_ID}_{key}")
        or ""
        for platform, key in (
            ("sensor", "last_delivered"),
            ("sensor", "pending"),
            ("binary_sensor", "rejected"),
        )
    }


async def test_a_measurement_has_a_device_with_diagnostic_entities(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    devices = dr.async_get(hass)
    device = devices.async_get_device_by_identifier(
        (DOMAIN, SUBENTRY_ID), entry.entry_id
    )
    assert device is not None
    assert device.name == TITLE
    account = devices.async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert account is not None
    assert device.via_device_id == account.id
    assert device.config_entry_id == entry.entry_id
    assert device.config_subentry_id == SUBENTRY_ID
    registry = er.async_get(hass)
    ids = _entity_ids(hass)
    assert all(ids.values()), ids
    for key, entity_id in ids.items():
        registered = registry.async_get(entity_id)
        assert registered is not None
        assert registered.device_id == device.id
        assert registered.entity_category is EntityCategory.DIAGNOSTIC
        assert registered.config_subentry_id == SUBENTRY_ID
        assert registered.translation_key == key
    assert ids == {
        "last_delivered": "sensor.grid_power_discharging_last_delivered",
        "pending": "sensor.grid_power_discharging_pending",
        "rejected": "binary_sensor.grid_power_discharging_rejected",
    }
    assert hass.states.get(ids["last_delivered"]).state == STATE_UNKNOWN
    assert hass.states.get(ids["pending"]).state == "0"
    assert hass.states.get(ids["rejected"]).state == STATE_OFF
    assert hass.states.get(ids["rejected"]).attributes["device_class"] == "problem"


async def test_entities_follow_delivery_retries_and_rejections(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
) -> None:
    ids = _entity_ids(hass)
    fake_fm.fail_next(503)
    await at(hass, freezer, T0 + Q)  # the first step waits for a retry
    assert hass.states.get(ids["pending"]).state == "1"
    assert hass.states.get(ids["last_delivered"]).state == STATE_UNKNOWN

    await at(hass, freezer, T0 + Q + timedelta(seconds=11))  # the retry
    assert hass.states.get(ids["pending"]).state == "0"
    assert hass.states.get(ids["last_delivered"]).state == (T0 + Q).isoformat()

    fake_fm.fail_next(422)  # refused for good
    await at(hass, freezer, T0 + 2 * Q)
    assert hass.states.get(ids["rejected"]).state == STATE_ON
    assert hass.states.get(ids["pending"]).state == "0"

    await at(hass, freezer, T0 + 3 * Q)  # accepted again
    assert hass.states.get(ids["rejected"]).state == STATE_OFF
    assert hass.states.get(ids["last_delivered"]).state == (T0 + 3 * Q).isoformat()
