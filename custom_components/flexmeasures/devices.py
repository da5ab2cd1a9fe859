"""Removing a device by hand: allowed once its FlexMeasures sensor is gone."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .api import (
    FlexMeasuresAccessDeniedError,
    FlexMeasuresError,
    FlexMeasuresNotFoundError,
)
from .const import (
    CONF_POWER_SENSOR,
    CONF_SENSOR,
    DOMAIN,
    LOGGER,
    SUBENTRY_TYPE_MEASUREMENT,
    SUBENTRY_TYPE_SCHEDULE,
)
from .data import FlexMeasuresConfigEntry

# The FlexMeasures sensor a sub-entry's device stands for, by sub-entry type.
_DEVICE_SENSOR = {
    SUBENTRY_TYPE_SCHEDULE: CONF_POWER_SENSOR,
    SUBENTRY_TYPE_MEASUREMENT: CONF_SENSOR,
}


async def async_remove_config_entry_device(
    hass: HomeAssistant,
    entry: FlexMeasuresConfigEntry,
    device_entry: dr.AnyDeviceEntry,
) -> bool:
    """Let the user delete a device whose FlexMeasures sensor is gone.

    A device stands for a sub-entry (identifiers {(DOMAIN, subentry_id)}). It may
    go only when the server, asked with the loaded entry's client, says that its
    sensor is no longer there for this account (not found, or another account's
    now); its sub-entry goes with it, so that no reload brings it back. The
    account device stays (delete the entry instead), and so does a device whose
    sensor still exists or whose server cannot be asked (entry not loaded,
    server down or failing). A device no sub-entry stands for may go.
    """
    ids = {ident for domain, ident in device_entry.identifiers if domain == DOMAIN}
    if not ids or entry.entry_id in ids:
        return False
    subentries = [entry.subentries[i] for i in sorted(ids) if i in entry.subentries]
    if not subentries:
        return True
    if entry.state is not ConfigEntryState.LOADED:
        LOGGER.warning(
            "Not deleting %s: the FlexMeasures entry is not loaded, so the server "
            "cannot be asked whether its sensor still exists",
            device_entry.name,
        )
        return False
    client = entry.runtime_data.client
    for subentry in subentries:
        if (key := _DEVICE_SENSOR.get(subentry.subentry_type)) is None:
            return False
        sensor_id = subentry.data[key]
        try:
            await client.get_sensor(int(sensor_id))
        except FlexMeasuresNotFoundError, FlexMeasuresAccessDeniedError:
            continue
        except FlexMeasuresError as err:
            LOGGER.warning(
                "Not deleting %s: cannot ask FlexMeasures whether sensor %s still "
                "exists: %s",
                device_entry.name,
                sensor_id,
                err,
            )
            return False
        LOGGER.warning(
            "Not deleting %s: FlexMeasures sensor %s still exists; delete the "
            "sub-entry %r to stop using it",
            device_entry.name,
            sensor_id,
            subentry.title,
        )
        return False
    for subentry in subentries:
        LOGGER.info(
            "Deleting %r: its FlexMeasures sensor %s is gone",
            subentry.title,
            subentry.data[_DEVICE_SENSOR[subentry.subentry_type]],
        )
        hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    return True
