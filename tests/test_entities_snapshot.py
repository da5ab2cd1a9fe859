"""Snapshots of a schedule device's entities: registry entries and states."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from unittest.mock import patch

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import (
    CONF_EMAIL,
    CONF_PASSWORD,
    CONF_URL,
    CONF_VERIFY_SSL,
    Platform,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.flexmeasures.const import DOMAIN, SUBENTRY_TYPE_SCHEDULE

from .fake_flexmeasures import TOY_EMAIL, TOY_PASSWORD, FakeFlexMeasures
from .schedule_setup import NOW, SCHEDULE_DATA, SUBENTRY_ID, set_soc, unload_entry

ENTRY_ID = "01JFLEXMEASURESSNAPSHOT000"

# Time runs (the fake server's polling needs it): only `last_update` depends on
# the exact moment, so it is checked against NOW and snapshot as "now".
pytestmark = pytest.mark.freeze_time(NOW, tick=True)


@pytest.fixture
async def entry(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> AsyncGenerator[MockConfigEntry]:
    """The toy account with the "Home battery" schedule device (fixed ids)."""
    fake_fm.job_pending_polls = 0
    set_soc(hass, "200", "kWh")
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        title="Toy Account",
        unique_id="snapshot_1",
        entry_id=ENTRY_ID,
        data={
            CONF_URL: fake_fm.url,
            CONF_EMAIL: TOY_EMAIL,
            CONF_PASSWORD: TOY_PASSWORD,
            CONF_VERIFY_SSL: True,
        },
        subentries_data=[
            ConfigSubentryData(
                data=SCHEDULE_DATA,
                subentry_id=SUBENTRY_ID,
                subentry_type=SUBENTRY_TYPE_SCHEDULE,
                title="Home battery",
                unique_id="8",
            )
        ],
    )
    config_entry.add_to_hass(hass)
    yield config_entry
    await unload_entry(hass, config_entry)


@pytest.mark.parametrize(
    "platform",
    [Platform.SENSOR, Platform.BINARY_SENSOR, Platform.CALENDAR, Platform.BUTTON],
)
async def test_schedule_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    entry: MockConfigEntry,
    platform: Platform,
) -> None:
    """Each platform's entities of a schedule device, at 05:37 UTC."""
    with patch("custom_components.flexmeasures.PLATFORMS", [platform]):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()

    entity_entries = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert entity_entries
    for entity_entry in entity_entries:
        assert entity_entry == snapshot(name=f"{entity_entry.entity_id}-entry")
        assert entity_entry.disabled_by is None
        state = hass.states.get(entity_entry.entity_id)
        assert state is not None
        if entity_entry.translation_key == "last_update":
            updated = dt_util.parse_datetime(state.state)
            assert updated is not None
            assert abs(updated - NOW) < timedelta(seconds=30)
            state = State(state.entity_id, "now", state.attributes)
        assert state == snapshot(name=f"{entity_entry.entity_id}-state")
