"""Snapshots of a schedule device's entities: registry entries and states."""

from __future__ import annotations

from datetime import timedelta
from functools import partialmethod
from unittest.mock import patch

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.flexmeasures.api import FlexMeasuresClient

from .common import schedule_subentry, setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    SCHEDULE_DATA,
    STEP_START,
    SUBENTRY_ID,
    set_soc,
    unload_entry,
)

# The clock stands at 05:37 UTC, so the entities' times are stable. A standing
# clock never ends the client's sleep between job polls: it polls without one.
pytestmark = pytest.mark.freeze_time(NOW)
POLL_AT_ONCE = partialmethod(FlexMeasuresClient.wait_for_schedule, first_delay=0.0)


@pytest.fixture
def fm_url(fake_fm: FakeFlexMeasures) -> str:
    """The account (`mock_config_entry`) is on the fake server."""
    return fake_fm.url


@pytest.fixture
def subentries_data() -> list[ConfigSubentryData]:
    """The "Home battery" schedule device."""
    return [schedule_subentry(SCHEDULE_DATA, subentry_id=SUBENTRY_ID)]


@pytest.mark.parametrize(
    "platform",
    [
        Platform.SENSOR,
        Platform.BINARY_SENSOR,
        Platform.CALENDAR,
        Platform.BUTTON,
        Platform.NUMBER,
        Platform.SELECT,
        Platform.TIME,
    ],
)
async def test_schedule_entities(
    hass: HomeAssistant,
    *,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    fake_fm: FakeFlexMeasures,
    mock_config_entry: MockConfigEntry,
    platform: Platform,
) -> None:
    """Each platform's entities of a schedule device, at 05:37 UTC."""
    fake_fm.job_pending_polls = 0
    # hourly prices (sensor 7, EUR/kWh) over the planning horizon
    fake_fm.data[7] = {
        STEP_START.replace(minute=0) + timedelta(hours=hour): round(0.2 + hour / 100, 2)
        for hour in range(25)
    }
    set_soc(hass, "200", "kWh")
    with (
        patch("custom_components.flexmeasures.PLATFORMS", [platform]),
        patch.object(FlexMeasuresClient, "wait_for_schedule", POLL_AT_ONCE),
    ):
        await setup_integration(hass, mock_config_entry)
        # the prices are read after the first schedule, while the entities are
        # added: the price's unit reaches the registry entry from the kept
        # source at the next start (here a reload), whichever came first
        assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)

    await snapshot_platform(hass, entity_registry, snapshot, mock_config_entry.entry_id)
    await unload_entry(hass, mock_config_entry)
