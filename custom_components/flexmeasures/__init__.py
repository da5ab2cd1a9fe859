"""The FlexMeasures integration: schedules and measurements for a home."""

from __future__ import annotations

import asyncio

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
    FlexMeasuresAccessDeniedError,
    FlexMeasuresAuthenticationError,
    FlexMeasuresClient,
    FlexMeasuresConnectionError,
    FlexMeasuresError,
    FlexMeasuresNotFoundError,
)
from .const import (
    API_VERSION,
    CONF_ENTITY_ID,
    CONF_FORECAST_ATTRIBUTE,
    CONF_SENSOR,
    DOMAIN,
    LOGGER,
    MANUFACTURER,
    SERVER_MODEL,
    SUBENTRY_TYPE_MEASUREMENT,
    SUBENTRY_TYPE_SCHEDULE,
)
from .coordinator import ScheduleCoordinator
from .data import FlexMeasuresConfigEntry, FlexMeasuresData
from .forwarder import MeasurementForwarder
from .frontend import async_load_card, async_register_card_path, async_unload_card
from .outbox import MeasurementMapping, outbox_store
from .services import async_setup_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.CALENDAR,
    Platform.SENSOR,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the FlexMeasures integration (actions and the card's path)."""
    async_setup_services(hass)
    await async_register_card_path(hass)
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
        mappings = await _async_measurement_mappings(client, entry)
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

    coordinators = {
        subentry.subentry_id: ScheduleCoordinator(hass, entry, subentry)
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_TYPE_SCHEDULE
    }
    entry.runtime_data.coordinators.update(coordinators)
    # async_refresh, not async_config_entry_first_refresh: an infeasible schedule
    # or a state of charge that is not there yet must not hold up the account
    # (nor the measurements); the entities say what is missing.
    await asyncio.gather(*(c.async_refresh() for c in coordinators.values()))

    if mappings:
        forwarder = MeasurementForwarder(hass, entry, client, mappings)
        await forwarder.async_start()
        entry.runtime_data.forwarder = forwarder
        entry.async_on_unload(forwarder.async_stop)

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    async_load_card(hass)
    return True


async def _async_measurement_mappings(
    client: FlexMeasuresClient, entry: FlexMeasuresConfigEntry
) -> list[MeasurementMapping]:
    """One mapping per measurement subentry, with its FlexMeasures sensor.

    A sensor that is gone or no longer ours is logged and skipped, so the rest
    of the account keeps working; other errors are raised to the caller.
    """
    mappings: list[MeasurementMapping] = []
    for subentry in entry.subentries.values():
        if subentry.subentry_type != SUBENTRY_TYPE_MEASUREMENT:
            continue
        try:
            sensor = await client.get_sensor(int(subentry.data[CONF_SENSOR]))
        except (FlexMeasuresNotFoundError, FlexMeasuresAccessDeniedError) as err:
            LOGGER.error(
                "Not sending %s: FlexMeasures sensor %s is not usable: %s",
                subentry.data[CONF_ENTITY_ID],
                subentry.data[CONF_SENSOR],
                err,
            )
            continue
        mappings.append(
            MeasurementMapping(
                subentry.subentry_id,
                subentry.data[CONF_ENTITY_ID],
                sensor,
                subentry.data.get(CONF_FORECAST_ATTRIBUTE) or None,
            )
        )
    return mappings


async def _async_update_listener(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> None:
    """Reload when the entry changes (subentries added, changed or removed)."""
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> bool:
    """Unload a config entry."""
    if unloaded := await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        async_unload_card(hass)
    return unloaded


async def async_remove_entry(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> None:
    """Forget the outbox of a removed account (its measurements go nowhere now)."""
    await outbox_store(hass, entry.entry_id).async_remove()
