"""The FlexMeasures integration: schedules and measurements for a home."""

from __future__ import annotations

from homeassistant.const import (
    CONF_EMAIL,
    CONF_PASSWORD,
    CONF_URL,
    CONF_VERIFY_SSL,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryError,
    ConfigEntryNotReady,
)
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .api import (
    FlexMeasuresAuthenticationError,
    FlexMeasuresClient,
    FlexMeasuresConnectionError,
    FlexMeasuresError,
)
from .const import API_VERSION, DOMAIN, MANUFACTURER, SERVER_MODEL
from .data import FlexMeasuresConfigEntry, FlexMeasuresData

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = []


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the FlexMeasures integration (actions are registered here)."""
    return True


async def async_setup_entry(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> bool:
    """Set up a FlexMeasures account from a config entry."""
    client = FlexMeasuresClient(
        async_get_clientsession(hass, verify_ssl=entry.data[CONF_VERIFY_SSL]),
        entry.data[CONF_URL],
        entry.data[CONF_EMAIL],
        entry.data[CONF_PASSWORD],
        verify_ssl=entry.data[CONF_VERIFY_SSL],
    )
    try:
        server_info = await client.get_server_info()
        if API_VERSION not in server_info.api_versions:
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="unsupported_version",
                translation_placeholders={
                    "url": client.url,
                    "api_version": API_VERSION,
                    "api_versions": ", ".join(server_info.api_versions),
                },
            )
        await client.login()
        user = await client.get_current_user()
        account = await client.get_account(user.account_id)
    except FlexMeasuresAuthenticationError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="invalid_auth",
            translation_placeholders={"url": client.url},
        ) from err
    except FlexMeasuresConnectionError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"url": client.url},
        ) from err
    except FlexMeasuresError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="api_error",
            translation_placeholders={"url": client.url, "error": str(err)},
        ) from err

    entry.runtime_data = FlexMeasuresData(
        client=client, server_info=server_info, user=user, account=account
    )

    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        entry_type=dr.DeviceEntryType.SERVICE,
        manufacturer=MANUFACTURER,
        model=SERVER_MODEL,
        name=account.name,
        sw_version=server_info.version,
        configuration_url=client.url,
    )

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    return True


async def _async_update_listener(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> None:
    """Reload when the entry changes (subentries added, changed or removed)."""
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> bool:
    """Unload a config entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
