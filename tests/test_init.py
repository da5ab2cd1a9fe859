"""Setting up and unloading a FlexMeasures account entry."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import aiohttp
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    ConfigEntryState,
    ConfigSubentry,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.const import DOMAIN

from .common import measurement_subentry, mock_account_entry, setup_integration
from .conftest import FlexMeasuresHTTPMock
from .const import FM_URL, FM_VERSION, OTHER_ACCOUNT_NAME, TOY_ACCOUNT_NAME
from .fake_flexmeasures import FakeFlexMeasures


async def test_entry_loads_client_account_and_unloads(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A loaded entry knows its server, user and account; it unloads cleanly."""
    assert init_integration.state is ConfigEntryState.LOADED
    data = init_integration.runtime_data
    assert data.client.url == FM_URL
    assert data.server_info.version == FM_VERSION
    assert data.user.id == 1
    assert data.account.name == TOY_ACCOUNT_NAME
    assert data.coordinators == {}
    assert data.forwarder is None

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.NOT_LOADED


async def test_entry_registers_server_account_device(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """The account shows up as a service device with the server's version."""
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, init_integration.entry_id), init_integration.entry_id
    )
    assert device is not None
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    assert device.manufacturer == "FlexMeasures"
    assert device.model == "FlexMeasures server"
    assert device.name == TOY_ACCOUNT_NAME
    assert device.sw_version == FM_VERSION
    assert device.configuration_url == FM_URL


@pytest.mark.parametrize(
    "exc",
    [aiohttp.ClientConnectionError("refused"), TimeoutError()],
)
async def test_server_down_makes_entry_retry(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
    exc: Exception,
) -> None:
    """An unreachable server means: not ready, try again later."""
    fm_http.clear()
    fm_http.add_server(exc=exc)
    await setup_integration(hass, mock_config_entry, ConfigEntryState.SETUP_RETRY)
    assert mock_config_entry.reason is not None
    assert f"Cannot reach the FlexMeasures server at {FM_URL}" in (
        mock_config_entry.reason
    )


async def test_server_error_makes_entry_retry(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A 5xx from the server also means: try again later."""
    fm_http.clear()
    fm_http.mocker.get(
        f"{FM_URL}/api/",
        status=503,
        json={"message": "maintenance", "status": 503},
    )
    await setup_integration(hass, mock_config_entry, ConfigEntryState.SETUP_RETRY)


async def test_unsupported_server_version_fails_setup(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A server without API v3_0 cannot be used: a setup error, not a retry."""
    fm_http.clear()
    fm_http.add_server(versions=("v2_0",))
    await setup_integration(hass, mock_config_entry, ConfigEntryState.SETUP_ERROR)


async def test_bad_credentials_start_reauth(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A refused login fails setup and asks the user to log in again."""
    fm_http.clear()
    fm_http.add_server(login_status=401)
    await setup_integration(hass, mock_config_entry, ConfigEntryState.SETUP_ERROR)

    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["source"] == SOURCE_REAUTH
    assert flows[0]["context"]["entry_id"] == mock_config_entry.entry_id
    assert flows[0]["step_id"] == "reauth_confirm"


async def test_two_accounts_load_side_by_side(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    device_registry: dr.DeviceRegistry,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Two accounts on two servers each get their own client and device."""
    other_url = "https://fm.example.com/prefix"
    fm_http.add_server(
        other_url,
        email="other@example.com",
        user_id=3,
        account_id=2,
        account_name=OTHER_ACCOUNT_NAME,
    )
    other_entry = mock_account_entry(
        other_url,
        email="other@example.com",
        user_id=3,
        account_name=OTHER_ACCOUNT_NAME,
    )
    mock_config_entry.add_to_hass(hass)
    other_entry.add_to_hass(hass)
    # setting up the integration sets up both entries
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert other_entry.state is ConfigEntryState.LOADED
    assert mock_config_entry.runtime_data.account.name == TOY_ACCOUNT_NAME
    assert other_entry.runtime_data.account.name == OTHER_ACCOUNT_NAME
    assert other_entry.runtime_data.client.url == other_url
    assert mock_config_entry.runtime_data.client is not other_entry.runtime_data.client
    devices = {
        device.name
        for entry in (mock_config_entry, other_entry)
        for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    }
    assert devices == {TOY_ACCOUNT_NAME, OTHER_ACCOUNT_NAME}

    assert await hass.config_entries.async_unload(other_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.LOADED


async def test_subentry_change_reloads_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Adding a subentry reloads the account so the new device is set up."""
    old_runtime_data = init_integration.runtime_data
    hass.config_entries.async_add_subentry(
        init_integration,
        ConfigSubentry(
            data=MappingProxyType({"power_sensor": "1"}),
            subentry_type="schedule",
            title="Battery",
            unique_id="battery",
        ),
    )
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert init_integration.runtime_data is not old_runtime_data


async def test_removing_the_entry_forgets_its_outbox(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """A removed account's waiting measurements are deleted with it."""
    key = f"{DOMAIN}.outbox.{init_integration.entry_id}"
    other = f"{DOMAIN}.outbox.another_entry"
    hass_storage[key] = {"version": 1, "data": {"mappings": {}}}
    hass_storage[other] = {"version": 1, "data": {"mappings": {}}}

    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()

    assert key not in hass_storage
    assert other in hass_storage


async def test_measurement_with_unusable_sensor_is_skipped(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sensor that is not ours is logged and skipped; the others still go up."""
    hass.states.async_set("sensor.house_power", "500", {"unit_of_measurement": "W"})
    hass.states.async_set("sensor.other_power", "1", {"unit_of_measurement": "kW"})
    entry = mock_account_entry(
        fake_fm.url,
        subentries_data=[
            measurement_subentry(
                "sensor.house_power",
                "9",
                subentry_id="01JMEASUREMENTOURSOLAR0000",
                title="House power -> production",
            ),
            measurement_subentry(
                "sensor.other_power",
                "10",
                subentry_id="01JMEASUREMENTNOTOURS00000",
                title="Other power -> power",
            ),
        ],
    )
    await setup_integration(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    assert list(forwarder.as_diagnostics()["mappings"]) == [
        "01JMEASUREMENTOURSOLAR0000"
    ]
    assert "Not sending sensor.other_power" in caplog.text
    assert await hass.config_entries.async_unload(entry.entry_id)
