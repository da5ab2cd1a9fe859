"""The FlexMeasures integration: schedules and measurements for a home."""

from __future__ import annotations

import asyncio
import re

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
    normalise_url,
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
    try:
        # The client normalises the URL before anything is sent (the demo
        # server refuses Host headers it does not trust, e.g. other spellings).
        client = FlexMeasuresClient(
            async_get_clientsession(hass, verify_ssl=entry.data[CONF_VERIFY_SSL]),
            entry.data[CONF_URL],
            entry.data[CONF_EMAIL],
            entry.data[CONF_PASSWORD],
            verify_ssl=entry.data[CONF_VERIFY_SSL],
        )
    except ValueError as err:  # also UrlHasCredentialsError; never echo the URL
        raise ConfigEntryError(
            translation_domain=DOMAIN, translation_key="invalid_url"
        ) from err
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


async def async_migrate_entry(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> bool:
    """Bring an entry from an older version of the integration up to date.

    1.1 -> 1.2: the URL is normalised (`normalise_url`: case, default ports,
    trailing slash) and loses any user info (`https://user:secret@host`), and
    the unique id follows it, so that one login is one entry however its URL
    was typed. A unique id already taken by another entry of the same login is
    kept (without user info) rather than duplicated.
    """
    if entry.version > 1:
        return False  # a downgrade: this code does not know the newer data
    if entry.minor_version < 2:
        data = dict(entry.data)
        unique_id = entry.unique_id
        try:
            data[CONF_URL] = normalise_url(data[CONF_URL], drop_user_info=True)
        except ValueError:
            # Unusable (setup will say so), but no secret stays in it either.
            data[CONF_URL] = _USER_INFO.sub("", str(data[CONF_URL]))
            if unique_id is not None:
                unique_id = _USER_INFO.sub("", unique_id)
            LOGGER.warning(
                "The server URL of FlexMeasures entry %s is not usable; "
                "reconfigure the entry",
                entry.title,
            )
        else:
            unique_id = _migrated_unique_id(hass, entry, data[CONF_URL])
        hass.config_entries.async_update_entry(
            entry, data=data, unique_id=unique_id, minor_version=2
        )
    return True


def _migrated_unique_id(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry, url: str
) -> str | None:
    """The unique id for the normalised URL: `<url>_<user id>`.

    If another entry already has it (the same login added twice under two
    spellings), this entry keeps its old id with only the user info removed.
    """
    old = entry.unique_id
    if old is None:
        return None
    prefix, _, user_id = old.rpartition("_")
    if not prefix or not user_id.isdigit():
        return _USER_INFO.sub("", old)
    new = f"{url}_{user_id}"
    other = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, new)
    if other is not None and other.entry_id != entry.entry_id:
        LOGGER.warning(
            "FlexMeasures entries %s and %s are the same login; remove one",
            other.title,
            entry.title,
        )
        return _USER_INFO.sub("", old)
    return new


# User info in a URL: what lies between "://" and the host's "@".
_USER_INFO = re.compile(r"(?<=://)[^/?#]*@")


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
