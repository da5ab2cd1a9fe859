"""Diagnostics of a FlexMeasures account entry."""

from __future__ import annotations

from datetime import timedelta
import json

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from .common import setup_integration
from .const import FM_TOKEN, TOY_EMAIL, TOY_PASSWORD
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import NOW, SUBENTRY_ID, coordinator_of, make_entry, set_soc


async def test_diagnostics_redact_credentials(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Diagnostics show server, account and user, but no credentials."""
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, init_integration
    )
    assert diagnostics == snapshot
    text = str(diagnostics)
    for secret in (TOY_PASSWORD, TOY_EMAIL, FM_TOKEN):
        assert secret not in text


@pytest.mark.freeze_time(NOW, tick=True)
@pytest.mark.usefixtures("fast_jobs_and_unload")
async def test_diagnostics_leak_nothing_that_entry_data_redacts(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The URL redacted in entry.data does not come back in an error placeholder."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    fake_fm.down = True
    freezer.tick(timedelta(minutes=16))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    coordinator = coordinator_of(entry)
    assert coordinator.last_error is not None
    assert coordinator.last_error.placeholders["url"] == fake_fm.url

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    text = json.dumps(diagnostics)
    for secret in (fake_fm.url, TOY_PASSWORD, TOY_EMAIL):
        assert secret not in text
    last_error = diagnostics["coordinators"][SUBENTRY_ID]["last_error"]
    assert last_error == "cannot_connect: url=**REDACTED**"
    fake_fm.down = False
    assert await hass.config_entries.async_unload(entry.entry_id)
