"""The FlexMeasures integration: schedules and measurements for a home."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_EMAIL,
    CONF_PASSWORD,
    CONF_URL,
    CONF_VERIFY_SSL,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .account import AccountState, async_read_account, async_read_online
from .api import FlexMeasuresClient
from .connection import ConnectionMonitor
from .const import (
    DOMAIN,
    LOGGER,
    MANUFACTURER,
    SERVER_MODEL,
)
from .data import FlexMeasuresConfigEntry, FlexMeasuresData
from .devices import async_remove_config_entry_device
from .forwarder import MeasurementForwarder
from .frontend import async_load_card, async_register_card_path, async_unload_card
from .grid import load_time_zones
from .issues import (
    SERVER_UNREACHABLE,
    async_clear_issues_of,
    async_clear_orphaned_issues,
)
from .migration import async_migrate_entry
from .outbox import MeasurementMapping, outbox_store
from .planners import async_first_plans, build_planners, restore_plans, set_offline
from .renames import (
    async_clear_returned,
    async_follow_entities,
    async_reload_if_changed,
    entry_signature,
)
from .services import async_setup_services
from .store import EntryStore, entry_store

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

__all__ = ["async_migrate_entry", "async_remove_config_entry_device"]

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.CALENDAR,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.TIME,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the FlexMeasures integration (actions, renames, the card's path)."""
    async_setup_services(hass)
    async_follow_entities(hass)
    await async_register_card_path(hass)
    return True


async def async_setup_entry(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> bool:
    """Set up a FlexMeasures account from a config entry.

    When the server cannot be reached but was reached before, the entry runs
    on what was kept (plans, sensor facts) and retries the server in the
    background (see account.py, connection.py).
    """
    loaded_as = entry_signature(entry)  # before anything is read of it
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
    async_clear_orphaned_issues(hass)  # e.g. of a sub-entry removed meanwhile
    store = EntryStore(hass, entry.entry_id)
    await store.async_load(entry.subentries)
    entry.async_on_unload(store.async_save_now)
    state = await async_read_account(client, entry, store)
    connection = ConnectionMonitor(hass, entry, client.url)
    entry.async_on_unload(connection.stop)
    client.set_reachability_listener(connection.report)
    entry.runtime_data = FlexMeasuresData(
        client=client,
        server_info=state.server_info,
        user=state.user,
        account=state.account,
        store=store,
        connection=connection,
        loaded_as=loaded_as,
    )

    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        entry_type=dr.DeviceEntryType.SERVICE,
        manufacturer=MANUFACTURER,
        model=SERVER_MODEL,
        name=state.account.name,
        sw_version=state.server_info.version,
        configuration_url=client.url,
    )

    build_planners(hass, entry)
    restore_plans(entry, store)
    if state.online:
        # setup reached the server before the monitor listened: an outage
        # kept from before is over
        connection.report(True)
        SERVER_UNREACHABLE.async_clear(hass, entry.entry_id)
        await async_first_plans(entry)
    else:
        _start_offline(entry, client, state)

    if zones := [sensor.timezone for sensor in state.measurement_sensors.values()]:
        # the day grids' time zones are read from files: not in the event loop
        await hass.async_add_executor_job(load_time_zones, zones)
    if mappings := [
        MeasurementMapping.from_subentry(subentry, sensor)
        for subentry_id, sensor in state.measurement_sensors.items()
        # not one deleted meanwhile (the entry reloads when set up)
        if (subentry := entry.subentries.get(subentry_id)) is not None
    ]:
        forwarder = MeasurementForwarder(hass, entry, client, mappings)
        await forwarder.async_start()
        entry.runtime_data.forwarder = forwarder
        entry.async_on_unload(forwarder.async_stop)

    async_clear_returned(hass, entry)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    async_reload_if_changed(hass, entry)  # changed while it was set up
    async_load_card(hass)
    return True


def _start_offline(
    entry: FlexMeasuresConfigEntry, client: FlexMeasuresClient, state: AccountState
) -> None:
    """Run on what was kept; retry the server in the background."""
    LOGGER.warning(
        "FlexMeasures at %s cannot be reached (%s); following the kept plans and "
        "keeping measurements until it answers",
        client.url,
        state.error,
    )
    runtime = entry.runtime_data
    set_offline(entry, runtime.store)

    async def probe() -> None:
        # all that setup reads: a server only partly back is not back yet
        await async_read_online(client, entry)

    runtime.connection.start_retrying(probe)
    runtime.connection.report(False)


async def _async_update_listener(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> None:
    """Reload when the entry changes (subentries added, changed or removed).

    Not when the entry is as it was set up but for measurements following
    their renamed entities (`renames.py`): the forwarder follows them already.
    A schedule following its renamed state of charge entity reloads.
    """
    # not while unloading: what sets it up again reads the entry as it is
    # then (and an unload or a removal must not set it up again)
    if entry.state is ConfigEntryState.LOADED:
        async_reload_if_changed(hass, entry)


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
    """Forget the outbox, the kept state and the repair issues of a removed account."""
    async_clear_issues_of(hass, {entry.entry_id, *entry.subentries})
    await outbox_store(hass, entry.entry_id).async_remove()
    await entry_store(hass, entry.entry_id).async_remove()
